"""The newcomer walk: ``train --list-encoders`` says which encoders need a weights package that is not installed,
and how to install it (mobilenet_v2 was listed as ready, then ``train --encoder mobilenet_v2`` failed for want of
its package)."""

import pytest

from cae_sim.cli import main
from cae_sim.cli.train import DOWNLOADS


def listing(capsys) -> dict[str, str]:
    with pytest.raises(SystemExit) as exit:
        main(["train", "--list-encoders"])
    assert exit.value.code == 0
    return dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())


def test_an_encoder_whose_weights_package_is_missing_is_marked_with_its_install_command(monkeypatch, capsys):
    from cae_sim.encoders.backbones import BACKBONES, PackagedWeights

    missing = BACKBONES["mobilenet_v2"].weights
    locate = PackagedWeights.locate

    def locate_but_mobilenet(self):
        if self == missing:
            raise ValueError(f"the weights package {self.distribution!r} is not installed: {self.install}")
        return locate(self)

    monkeypatch.setattr(PackagedWeights, "locate", locate_but_mobilenet)
    described = listing(capsys)
    assert described["mobilenet_v2"].endswith(f"[the weights package {missing.distribution!r} is not installed: "
                                              f"{missing.install}]")
    assert "[" not in described["efficientnet_lite0"] and described["resnet50"].endswith(DOWNLOADS)
