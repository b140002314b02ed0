"""Framework adapters: HESO's policy, decisions and ledger where an agent framework already stops for approval.

Each adapter is a module of its own, importable only with its framework installed (an extra of
``heso-client``): ``pip install 'heso-client[openai-agents]'`` for ``heso.client.adapters.openai_agents``,
``[pydantic-ai]`` for ``heso.client.adapters.pydantic_ai``, ``[langgraph]`` for
``heso.client.adapters.langgraph``. Nothing here is imported by ``heso.client`` itself.
"""
