"""The continuous family: Gaussian, Exponential and Gamma; pathwise, score and measure-valued estimators."""
