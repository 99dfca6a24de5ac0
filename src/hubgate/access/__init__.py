"""Access to money: pre-authorization holds against budgets and balances, and their books."""
