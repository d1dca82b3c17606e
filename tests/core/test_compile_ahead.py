from stream_ae.core import verdicts
from stream_ae.core.compile_ahead import compile_ahead
from stream_ae.core.windows import kernel, rings


def test_both_hot_loops_are_compiled_for_the_detectors_types() -> None:
    compile_ahead()
    assert kernel.take_run.signatures
    judged = verdicts._judge_rows.signatures
    assert judged and any("float32" in str(types[3]) for types in judged)  # raw windows


def test_the_drift_loop_is_compiled_too() -> None:
    from stream_ae.core import drift

    compile_ahead()
    assert drift._page_hinkley_up.signatures


def test_the_window_gather_is_compiled_for_the_stores_types() -> None:
    compile_ahead()
    gathered = rings._gather.signatures
    assert gathered and any("float32" in str(types[1]) for types in gathered)  # values


def test_the_scaling_of_windows_is_compiled_for_the_stores_types() -> None:
    from stream_ae.core import normalize

    compile_ahead()
    scaled = normalize._scaled.signatures
    assert scaled and any("float32" in str(types[0]) for types in scaled)  # raw windows
