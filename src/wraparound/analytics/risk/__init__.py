"""12-month emergency admission risk: model, metrics, explanations and the model card."""
