"""Preview environments per pull request: opening, updating, closing, sweeping and reporting back."""
