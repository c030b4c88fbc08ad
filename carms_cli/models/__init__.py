"""Model objectives: discrete-latent VAEs trained with the registered estimators (`carms vae`)."""
