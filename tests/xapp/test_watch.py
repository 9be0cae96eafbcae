"""The config watcher notices edits, atomic renames and ConfigMap-style symlink swaps."""

import os

from rrm.xapp.watch import ConfigWatcher


def test_in_place_edit_is_noticed(tmp_path):
    f = tmp_path / "c.json"
    f.write_text('{"log_level": "info"}')
    seen = []
    w = ConfigWatcher(f, seen.append)
    assert not w.poll()
    f.write_text('{"log_level": "debug", "x": 1}')
    assert w.poll() and seen == [f]


def test_kubernetes_symlink_swap_is_noticed(tmp_path):
    # Layout of a mounted ConfigMap: c.json -> ..data/c.json, ..data -> ..2026_01
    for name, text in (("..2026_01", '{"a": 1}'), ("..2026_02", '{"a": 2}')):
        (tmp_path / name).mkdir()
        (tmp_path / name / "c.json").write_text(text)
    os.symlink("..2026_01", tmp_path / "..data")
    os.symlink("..data/c.json", tmp_path / "c.json")
    seen = []
    w = ConfigWatcher(tmp_path / "c.json", seen.append)
    os.symlink("..2026_02", tmp_path / "..data_tmp")
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")  # atomic swap, as kubelet does
    assert w.poll() and len(seen) == 1
    assert not w.poll()


def test_a_failing_callback_does_not_stop_the_watcher(tmp_path):
    f = tmp_path / "c.json"
    f.write_text("1")

    def boom(_):
        raise ValueError("bad config")

    w = ConfigWatcher(f, boom)
    f.write_text("22")
    assert w.poll()
    f.write_text("333")
    assert w.poll()
