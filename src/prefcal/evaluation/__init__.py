"""Offline evaluation of Home policies (stage 04; STUDY.md 6.4).

* :mod:`~prefcal.evaluation.accuracy`: replay accuracies (frozen definitions, Table 1 analogue);
* :mod:`~prefcal.evaluation.lifts`: lifts with paired user-bootstrap intervals (vectorised);
* :mod:`~prefcal.evaluation.ab_test`: the simulated A/B test against SC-90 (Table 2 analogue);
* :mod:`~prefcal.evaluation.ope_eval`: off-policy estimates of every policy's stream rate with a
  position-based item-level correction, against the true online value;
* :mod:`~prefcal.evaluation.policyset`: the policies fitted on the training logs;
* :mod:`~prefcal.evaluation.reward_models`: CB reward models;
* :mod:`~prefcal.evaluation.sensitivity`: "when does CB win?" (context strength, eps, lambda,
  arm grid, K);
* :mod:`~prefcal.evaluation.pipeline`: the stage end to end (:func:`run_stage`);
* :mod:`~prefcal.evaluation.oracle`: validation only, CB with the true reward of every arm (the
  ceiling of what a better reward model can gain).
"""
