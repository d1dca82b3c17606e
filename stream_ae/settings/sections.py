"""The settings' sections: every key, its default, its bounds and what it means.

Each section is one table of the TOML file (`[window]`, `[threshold]`, ...) and one
`STREAM_AE_<SECTION>__<KEY>` prefix in the environment; `stream_ae.settings` puts them
together and loads them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_settings import NoDecode

# Frozen so a running detector cannot drift from what `check-config` printed; forbid so a
# typo is an error rather than a silently ignored key.
_SECTION = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


def _list_from_text(value: object) -> object:
    """A list from the environment: JSON (`["a", "b"]`) or comma-separated (`a,b`)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError(
                f"{text!r} is not a JSON list; write it comma-separated (a,b) "
                'or as JSON (["a", "b"])'
            ) from None
    return [part.strip() for part in text.split(",") if part.strip()]


# Lists arrive from the environment as text: NoDecode hands them to _list_from_text
# instead of pydantic-settings' JSON-only parsing, which fails with a traceback.
TextList = Annotated[tuple[str, ...], NoDecode]


MAX_SERIES = 20_000
"""`window.max_series` by default: also what a Kafka source remembers of series ids
when it is not told the store's size."""


class WindowSettings(BaseModel):
    model_config = _SECTION
    length: int = Field(default=32, ge=1, le=4096)
    """Points per window, the model's input length (1: each point is a record, judged
    on its own: the dense model kind)."""
    channels: TextList = Field(default=("value",), min_length=1)
    """Channel names of the service's series (one model serves them all); a model
    artifact's own channels take precedence. Files name their channels themselves. In
    the environment: comma-separated (temp,vibration) or a JSON list."""
    hop: int = Field(default=1, ge=1)
    """Score every k-th point of a series (1 scores every point once its window is full).
    Above 1, a series' first window (and its first after a gap reset) comes up to k-1
    points after the one k alone would pick, by a phase taken from its name (see
    `stagger`)."""
    stagger: bool = True
    """Above hop 1, offset each series' scored windows by a phase from its name, so that
    series which start together spread their windows over the hop's points rather than
    all scoring on one of them (at 100,000 series and hop 8, a burst of 100,000 windows
    every 8th point that the next points wait behind). False: every series' first
    window is the one that fills it, so hop = length tumbles from its first point."""
    max_series: int = Field(default=MAX_SERIES, ge=1)
    """Most series kept in memory at once; beyond it idle series are evicted. Each takes
    about 11 KiB at the default window and threshold history."""
    idle_evict_s: float = Field(default=86400.0, gt=0)
    """A series unseen this long, in event time, may be evicted when the store is full."""
    max_ahead_s: float = Field(default=86400.0, gt=0)
    """A point dated further than this past wall time is refused (too_far_ahead); idle
    eviction never measures against a clock later than wall time either."""
    gap_policy: Literal["reset", "impute"] = "reset"
    """On a gap: 'reset' empties the series' window, 'impute' fills the missing steps."""
    gap_factor: float = Field(default=3.0, gt=1)
    """A gap is a step longer than gap_factor times the series' usual step."""
    irregular_after: int = Field(default=3, ge=0)
    """After this many gap resets in a row, each before the series' window filled, the
    series is taken as sampled irregularly and its gaps stop resetting it (0: never)."""
    out_of_order: Literal["reject", "ignore_time"] = "reject"
    """A point older than its series' last one: 'reject' it, or take it in arrival order."""
    duplicates: Literal["reject", "replace"] = "reject"
    """A point with the same time as its series' last one: 'reject' it or 'replace' the last."""

    _channels_from_text = field_validator("channels", mode="before")(_list_from_text)


class NormalizeSettings(BaseModel):
    model_config = _SECTION
    online: bool = False
    """Track each series' scale online instead of using the model artifact's statistics."""
    online_alpha: float = Field(default=0.001, gt=0, lt=1)
    """Weight of each new point in the online mean and variance."""


class ModelSettings(BaseModel):
    model_config = _SECTION
    artifact: Path | None = None
    """Model artifact directory to serve; unset means cold start: fit one from the stream."""
    kind: Literal["auto", "lstm", "dense"] = "auto"
    """"lstm": windows are sequences, read in order; "dense": each window is one record
    (a point's fields, a small image) taken whole; "auto": dense for window.length 1,
    LSTM otherwise."""
    hidden: int = Field(default=32, ge=1, le=4096)
    """Hidden units (of the LSTM, or of each dense layer). The LSTM's cost grows
    steeply with it: at 16 a CPU scores about twice the windows a second it does at 32,
    and NAB lost 2.8 points (60.1 -> 57.3; the demo plant did not notice:
    benchmarks/model_size.py, RESULTS.md "The model's width")."""
    latent: int | None = Field(default=None, ge=1, le=4096)
    """Size of the bottleneck code; unset: for the LSTM one per channel, at least 4 and
    at most 16 (for the dense kind a third of the record's values, 2 to 16).
    Narrow on purpose: a wide code learns to rebuild faults too (the demo plant's best
    point F1 0.56 at 16, 0.69 at 4), while 25 or more channels of independent signals
    need the room (stream_ae.model.training.auto_latent)."""
    layers: int = Field(default=1, ge=1, le=8)
    """Layers in the encoder and in the decoder."""
    epochs: int = Field(default=100, ge=1)
    """Most training epochs (early stopping may end sooner)."""
    batch_size: int = Field(default=32, ge=1)
    """Windows per training step."""
    learning_rate: float = Field(default=2e-3, gt=0, lt=1)
    """Adam learning rate."""
    patience: int = Field(default=15, ge=1)
    """Epochs without validation improvement before training stops."""
    val_fraction: float = Field(default=0.2, gt=0, lt=1)
    """Share of training windows held out (shuffled) to choose the best epoch."""
    seed: int = Field(default=0, ge=0)
    """Random seed for weights and shuffling, so fits are repeatable."""
    fit_after_windows: int = Field(default=1000, ge=16)
    """Cold start fits a first model once this many windows were seen (of any series),
    unless one of fit_points, fit_span_s and fit_until says which part of each series is
    normal."""
    fit_points: int | None = Field(default=None, ge=2)
    """Cold start fits on the first fit_points points of each series (its first N points
    make N - window.length + 1 windows), once every series has passed them; the model
    then judges from the next point."""
    fit_span_s: float | None = Field(default=None, gt=0)
    """Cold start fits on each series' points within this many seconds of its first
    point, once every series has passed that span."""
    fit_until: AwareDatetime | None = None
    """Cold start fits on each series' points before this time (RFC 3339 with a zone,
    or epoch seconds), once every series has reached it."""
    max_train_windows: int = Field(default=20_000, ge=16)
    """Most windows used for one fit (the latest ones)."""
    artifact_dir: Path = Path("models")
    """The model registry: published versions and the `current` pointer to the one that
    serves (`stream-ae model list`)."""
    registry_poll_s: float = Field(default=10.0, ge=0)
    """How often `stream-ae run` checks the registry for a newly promoted version, which
    it then scores in shadow until warm and swaps in without a pause (0: never)."""
    rollback_alert_rate: float = Field(default=0.01, ge=0, le=1)
    """Alerts opened per window scored by a newly swapped-in model, over its first
    `rollback_check_windows`, above which the service rolls back to the previous
    version (0: never)."""
    rollback_check_windows: int = Field(default=5000, ge=1)
    """Windows a swapped-in model scores before its alert rate is judged."""

    @model_validator(mode="after")
    def _one_fit_share(self) -> ModelSettings:
        given = [k for k in ("fit_points", "fit_span_s", "fit_until") if getattr(self, k)]
        if len(given) > 1:
            raise ValueError(
                f"{' and '.join(given)} are both set; say which part of each series is "
                "normal with one of them"
            )
        return self


class ScoringSettings(BaseModel):
    model_config = _SECTION
    device: str = "auto"
    """'auto' (a GPU when there is one), 'cpu', 'cuda' or 'cuda:N'."""
    max_batch: int = Field(default=256, ge=1)
    """Most windows per inference call (64..256 measured fastest on CPU)."""
    engine: Literal["eager", "torchscript", "compile"] = "torchscript"
    """Inference path: plain PyTorch, TorchScript, or torch.compile (falls back to plain
    PyTorch on LSTMs). TorchScript measured fastest here (benchmarks/inference_paths.py)."""
    threads: int = Field(default=1, ge=1)
    """Torch CPU threads (one beat two in every measurement here)."""

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        index = value.removeprefix("cuda:")
        if value in ("auto", "cpu", "cuda") or (index != value and index.isdigit()):
            return value
        raise ValueError("must be 'auto', 'cpu', 'cuda' or 'cuda:N' with N a GPU index")


class ThresholdSettings(BaseModel):
    model_config = _SECTION
    history: int = Field(default=2000, ge=10)
    """Recent scores per series the percentile is taken over."""
    quantile: float = Field(default=0.995, gt=0, lt=1)
    """A score above this quantile of the history is anomalous."""
    warmup: int = Field(default=300, ge=1)
    """Scores a series must have before it can alert."""
    protect: bool = True
    """Keep the scores the alert policy protects out of the history (those of an open
    incident, of alerts.hold_after scores after it, and any alerts.hold_ratio times the
    threshold): an anomaly cannot raise its own bar."""
    escape_after: int = Field(default=200, ge=1)
    """Protected scores in a row after which the history takes them again, as they are
    (no rise_limit): a lasting new level for the incidents after it, while an open
    incident is still resolved against the threshold it opened at (alerts.resolve_ratio).
    Every held score counts, those held after an incident too; scores at least
    alerts.hold_ratio times the threshold need a run of their own. So a spike that
    recurs within alerts.hold_after scores, past the threshold but under hold_ratio, is
    let in after a while (benchmarks/recurring_spikes.py)."""
    floor: float = Field(default=1e-6, ge=0)
    """Smallest threshold, so a flat series does not alert on noise. Judged on the tail
    (alerts.judged_on), a floor far above a series' own scores stretches the tail past
    them: at the default quantile, alerts.open_ratio 1.5 then opens at about 2.2 times
    the floor, not 1.5."""
    rise_limit: float | None = Field(default=1.1, ge=1.0)
    """A score enters the history as at most rise_limit x the threshold (as averaged
    over rise_span scores), so a fault that grows slowly cannot lift the threshold with
    it (unset: scores enter as they are)."""
    rise_span: int | None = Field(default=1000, ge=1)
    """The threshold rise_limit counts from is averaged over about this many scores:
    the threshold rises by about rise_limit - 1 per rise_span scores however many
    exceed it. Counted from each score's own threshold (unset), a fault growing over
    hours lifted it 1.1x per ten exceedances, compounding, and never opened an incident
    (demo plant: event F1 0.69 unset, 0.75 at 1000; NAB unchanged)."""
    return_after: int | None = Field(default=200, ge=1)
    """After a lasting new level was let in (escape_after), this many scores in a row
    back at or under the threshold of before (at most twice the usual share of them
    above its 95th percentile) restore the history of before: the level was a fault
    that ended, and learned it would hold the threshold up for a whole history after
    it. A level that stays escape_after more scores is kept (unset: always kept). Demo
    plant event F1 0.728 -> 0.777, point F1 own / best 0.572 / 0.691 -> 0.618 / 0.695;
    NAB 64.0 / 53.2 / 69.7 -> 62.3 / 49.7 / 68.5, on its tweet volumes a burst is
    followed by a busier normal."""
    stuck_channels: bool = True
    """Judge runs of exact repeats on each channel beside the model's score, against the
    series' own runs over ten histories (with alerts.judged_on = "tail"; this section's
    quantile, warmup and escape_after): a stuck or flatlined sensor reconstructs well, so the
    score alone does not see it. Demo plant: stuck and flatlined sensors caught 3 -> 10
    of 11, within two minutes, inside an incident for 0 -> 0.98 of their length at
    median; event F1 0.777 -> 0.845, point F1 own / best 0.618 / 0.695 -> 0.691 /
    0.756. NAB 62.3 / 49.7 / 68.5 -> 62.1 / 49.2 / 68.4: the new pages are nine tweet
    volumes' feed outage of 2015-03-11 (counts at zero for hours), unlabelled there."""
    seed_from_fit: bool = True
    """Start each series a model was fitted on from the model's scores on its fit windows
    (kept in the manifest as fit_scores: a first fit, `stream-ae fit`, a retrain) and
    judge it at once, instead of waiting for `warmup` scores of its own."""

    @model_validator(mode="after")
    def _warmup_fits(self) -> ThresholdSettings:
        if self.warmup > self.history:
            raise ValueError(
                f"warmup ({self.warmup}) must not exceed history ({self.history}); "
                "the history cannot hold enough scores to finish the warm-up"
            )
        return self


class AlertSettings(BaseModel):
    model_config = _SECTION
    judged_on: Literal["tail", "score"] = "tail"
    """What the ratios below multiply. "tail": each score's tail exponent under its
    series' history, 1 at the threshold and 2 where the tail probability is the
    threshold's squared, so a ratio is one rarity on every series however long its
    scores' tail (open_ratio 1.5 at quantile 0.995: rarer than 1 in 2,800). "score":
    the raw score, the ratios multiples of the threshold (1.2, 1.5, 1.5 and 3 were its
    defaults). Against "score", "tail" gave NAB 59.7 / 43.7 / 67.1 -> 64.0 / 53.2 / 69.7
    and the demo plant's event F1 0.740 -> 0.728 (holding at 3, benchmarks/RESULTS.md)."""
    open_k: int = Field(default=3, ge=1)
    """An incident opens when open_k of the last open_n scores reach open_ratio."""
    # The policy keeps n verdicts as bits of one 64-bit word per series and takes at
    # most 63 (core/alerting.py); the same bound here fails at check-config, not at start.
    open_n: int = Field(default=5, ge=1, le=63)
    """How many recent scores open_k counts over (at most 63: the alert policy keeps them
    as bits of one 64-bit word per series)."""
    resolve_after: int = Field(default=10, ge=1)
    """Consecutive calm scores (see resolve_ratio) that resolve an open incident."""
    resolve_ratio: float = Field(default=0.8, gt=0.0)
    """A score is calm when at most resolve_ratio x the threshold the incident opened at
    (its reference of normal, which the incident's own scores cannot move). Under 1 is
    hysteresis: the incident needs scores clearly back to normal to resolve."""
    hold_after: int = Field(default=200, ge=0)
    """Scores after an incident resolves that the threshold's history does not take: the
    tail of a fault that fades slowly stays out of the reference of normal."""
    cooldown: int = Field(default=20, ge=0)
    """Scores after a resolve during which no new incident opens on that series."""
    open_ratio: float = Field(default=1.5, ge=1.0)
    """Only scores at least open_ratio x the threshold count towards opening; an open
    incident stays open until its scores are calm (resolve_ratio). Marginal
    exceedances of a 99.5th percentile are most false pages."""
    hold_ratio: float = Field(default=3.0, ge=1.0)
    """Scores at least hold_ratio x the threshold stay out of the threshold's history
    also outside incidents (up to threshold.escape_after in a row), so a burst does not
    lift the bar before it opens one, and an incident's scores this high are let in
    only after escape_after of them in a row. Less rare ones are learned, as at most
    threshold.rise_limit x the threshold: holding them too biases the history low and
    the threshold sinks. Judged on the tail, holding at 3 / 5 / 8 gave NAB 62.3 / 61.9
    / 62.1 and demo plant event F1 0.777 / 0.789 / 0.801; at 8 the seasonal scenario
    missed 2 of its 5 events: 80 scores apart, the holds after its incidents chained
    into one protected stretch, and the next incident's scores under 8 were let in as
    a new level at once."""
    major_ratio: float = Field(default=3.0, gt=1.0)
    """An incident whose peak reached major_ratio x the threshold is major (judged on the
    tail: rarer than (1 - quantile)^3)."""
    critical_ratio: float = Field(default=10.0, gt=1.0)
    """An incident whose peak reached critical_ratio x the threshold is critical
    (checked before major_ratio). On the demo plant, the median true page peaked at
    11.5 judged on the tail, a quarter under 3.1."""
    top_contributors: int = Field(default=3, ge=0)
    """Time steps and channels reported with an alert as its main contributors."""

    @model_validator(mode="after")
    def _consistent(self) -> AlertSettings:
        if self.open_k > self.open_n:
            raise ValueError(
                f"open_k ({self.open_k}) must not exceed open_n ({self.open_n}); "
                "an incident opens when k of the last n scores are high"
            )
        if self.critical_ratio < self.major_ratio:
            raise ValueError(
                f"critical_ratio ({self.critical_ratio}) must not be below major_ratio "
                f"({self.major_ratio}); critical is checked first, so no incident would "
                "ever be major: raise alerts.critical_ratio or lower alerts.major_ratio"
            )
        if self.resolve_ratio > self.open_ratio:
            raise ValueError(
                f"resolve_ratio ({self.resolve_ratio}) must not exceed open_ratio "
                f"({self.open_ratio}): an incident would count as calm while scores high "
                "enough to open one go on; lower alerts.resolve_ratio"
            )
        return self


class ColdStartSettings(BaseModel):
    model_config = _SECTION
    hst_trees: int = Field(default=10, ge=1)
    """Half-space trees in the online detector used until the first model is fitted."""
    hst_height: int = Field(default=8, ge=1, le=20)
    """Height of each tree (nodes grow as 2^height)."""
    hst_window: int = Field(default=250, ge=1)
    """Points per reference window of the half-space trees."""
    fit_mode: Literal["auto", "wait", "background"] = "auto"
    """How the first fit runs. 'wait' pauses the stream until the model is ready (replays
    give the same result on any machine); 'background' keeps scoring with the online
    detector meanwhile; 'auto' waits when reading a file and fits in the background
    in the service."""


class FileSettings(BaseModel):
    model_config = _SECTION
    batch_points: int = Field(default=1024, ge=1)
    """Points per micro-batch when reading a file."""


class RetrainSettings(BaseModel):
    model_config = _SECTION
    since_s: float = Field(default=86_400.0, gt=0)
    """`stream-ae retrain` reads this many seconds of the input topic, up to now."""
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)
    """The newest share of each series' windows, kept out of training to compare the
    candidate with the serving model."""
    min_windows: int = Field(default=500, ge=10)
    """Fewer clean windows than this: no candidate is fitted."""
    scale_on_newest: float = Field(default=0.25, gt=0, le=1)
    """The candidate scales each series by the statistics of its newest share of training
    windows, so a series whose level moved is centred where it is now (1: all windows)."""
    max_error_ratio: float = Field(default=1.0, gt=0)
    """Promotion rule: the candidate's 99th-percentile holdout error must be at most this
    times the serving model's."""
    interval_s: float = Field(default=0.0, ge=0)
    """`stream-ae run` starts the retrain job, in its own process, this often (0: never;
    a CronJob can run it instead)."""
    drift: Literal["off", "page_hinkley", "adwin"] = "page_hinkley"
    """Drift detector on each series' scores; a drift asks for a retrain early."""
    drift_cooldown_s: float = Field(default=3600.0, ge=0)
    """Least time between two retrains started by the service."""
    pushgateway: str | None = None
    """host:port of a Prometheus Pushgateway the retrain job pushes its metrics to."""


class MetricsSettings(BaseModel):
    model_config = _SECTION
    address: str = Field(default="0.0.0.0:2112", pattern=r"^[^\s]*:\d{1,5}$")
    """host:port where `stream-ae run` serves Prometheus metrics on /metrics and the
    /healthz and /readyz probes (port 0: any free port, logged at start). 2112, outside
    9100-9999, which the Prometheus project hands out to exporters: a detector beside
    node_exporter, graphite_exporter and the like does not collide with them."""
    series: Annotated[list[str], NoDecode] = Field(default_factory=list, max_length=1000)
    """Series whose score and threshold are always exported as gauges (labelled by
    series id: keep the list short). In the environment: comma-separated or a JSON list."""
    top_k: int = Field(default=10, ge=0, le=100)
    """Also export score and threshold for the K series currently furthest above their
    thresholds (0: none), so dashboards can show the series that matter."""
    stall_s: float = Field(default=60.0, gt=0)
    """/healthz fails once the event loop has not run, or the scoring worker has been on
    one task, for this many seconds: the process is stuck and a restart helps. Keep it
    well above the slowest batch (a first model's install included)."""

    _series_from_text = field_validator("series", mode="before")(_list_from_text)


class LoggingSettings(BaseModel):
    model_config = _SECTION
    format: Literal["text", "json"] = "text"
    """How log lines are written to stderr: "text" for people, "json" (one object per
    line: time, level, logger, message, and the traceback of an error) for log
    collectors such as Loki, Elasticsearch or Cloud Logging."""
