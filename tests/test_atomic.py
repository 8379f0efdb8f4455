"""Files the package writes are whole or absent: never half-written under their name."""

from __future__ import annotations

import json

import pytest

from anode_plugin._atomic import atomic_path, save_figure, write_text_atomic
from anode_plugin.lightning import NFEHistory


def test_a_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path):
    path = tmp_path / "results.json"
    write_text_atomic(path, '{"old": 1}')
    with pytest.raises(RuntimeError, match="killed"), atomic_path(path) as partial:
        with open(partial, "w") as handle:
            handle.write('{"new": ')  # half of the new file
        raise RuntimeError("killed mid-write")
    assert json.loads(path.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_the_partial_name_is_hidden_and_keeps_the_extension(tmp_path):
    with atomic_path(tmp_path / "figure.png") as partial:
        assert partial.endswith(".png") and partial.split("/")[-1].startswith(".figure.")
        assert not (tmp_path / "figure.png").exists()  # not under its name while written
        open(partial, "wb").close()
    assert (tmp_path / "figure.png").exists()


def test_a_figure_is_saved_whole(tmp_path):
    from matplotlib.figure import Figure

    figure = Figure()
    figure.subplots().plot([0, 1], [1, 0])
    save_figure(figure, tmp_path / "plot.png", dpi=50)
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]


def test_nfe_histories_are_written_whole(tmp_path):
    history = NFEHistory([])
    history.to_csv(tmp_path / "nfe.csv")
    history.to_json(tmp_path / "nfe.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nfe.csv", "nfe.json"]
    assert json.loads((tmp_path / "nfe.json").read_text()) == []
