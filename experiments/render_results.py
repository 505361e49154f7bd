"""Render the README's "Results" section from experiments/results/*_clustering.json.

    python experiments/render_results.py          # rewrites the section between its markers in README.md
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- results:start -->", "<!-- results:end -->"
EXPERIMENTS = {
    "mnist_clustering": "MNIST (`python experiments/mnist_clustering.py`)",
    "digits_clustering": "scikit-learn digits, 1,797 8×8 images (`python experiments/digits_clustering.py`)",
    "fashion_mnist_clustering": "Fashion-MNIST, 28×28 gray (`python experiments/fashion_mnist_clustering.py`)",
    "dogs_cats_clustering": "CIFAR-10 cats and dogs, 2,000 32×32 colour images (`python experiments/dogs_cats_clustering.py`)",
    "food_clustering": "Food photos, 542 in 20 food groups, 307×173 colour (`python experiments/food_clustering.py`)",
}


def table(results: dict) -> list[str]:
    """Markdown rows: measured methods first, then published ones."""
    lines = ["| method | split | ACC | NMI | ARI | seconds |", "|---|---|---|---|---|---|"]
    for row in results["measured"]:
        lines.append(f"| {row['method']} | {row['split']} | {row['acc']:.3f} | {row['nmi']:.3f} | {row['ari']:.3f} | {row['seconds']:.0f} |")
    for row in results.get("published", []):
        lines.append(f"| {row['method']} (published: {row['source']}) | full | {row['acc']:.3f} | | | |")
    return lines


def render() -> str:
    """The section's text, one table per experiment that has results."""
    parts = []
    for name, title in EXPERIMENTS.items():
        path = ROOT / "experiments" / "results" / f"{name}.json"
        if path.exists():
            parts += [f"**{title}**", "", *table(json.loads(path.read_text())), ""]
    return "\n".join(parts)


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    readme.write_text(f"{before}{START}\n{render()}{END}{after}")


if __name__ == "__main__":
    main()
