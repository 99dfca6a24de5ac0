"""The web console at /ui: server-rendered pages for people (sign-up, keys, usage,
playground) and for administrators (channels, prices, accounts, codes, audit)."""
