"""``judgelab audit``: one command that tells a user, before they train on a judge, how well it judges
(static), what fools it (adversarial), what its picks are worth (selection) and how fast a policy
learns to hack it (dynamic), on one card; and cards side by side.

``budget`` (how much an audit spends) -> ``plan`` (the audit as an ordinary run config) -> ``run``
(the pipeline's stages, ``noise_match`` for the benign proxy) -> ``assemble`` (the card, ``card``)
-> ``html`` (its page) and ``compare`` (pages of several cards). docs/guide/audit.md has the method.
"""
