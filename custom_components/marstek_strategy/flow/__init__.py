"""The config flow's parts: forms, the battery subentry flow, the options flow."""
