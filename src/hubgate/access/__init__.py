"""Who may call and what they may spend: keys and their cache, budgets, balances, holds,
and the helpers those caches share (steady reads, revision watching, client networks)."""
