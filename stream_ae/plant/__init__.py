"""The demo plant: simulated pumping units with injected faults whose truth is kept
(`simulate`, on `synthetic` series), and the evaluation of alerts against that truth."""
