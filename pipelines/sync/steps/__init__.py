"""The sync steps, one module per table group, each declaring its `STEP`
(`pipelines.sync.step.Step`); `pipelines.sync.STEPS` finds them all."""
