"""Choice of the background model per selection (rule fit_model): templates, spurious-signal
table, the choice file and its figures. docs/design.md, "Spurious-signal test and background
choice"."""
