"""Teams, API keys and scopes: who is calling, and on behalf of which team."""
