"""Languages: which language a visitor is spoken to in, dialogue texts in several languages, and
the catalog of the widget's labels and the server's messages (docs/languages.md).

For card authors: a text option may be one text or a mapping of language to text. Read it with
``CardContext.localise(card.get("text"))`` (the visitor's language, with fallbacks) and check it
with ``check_text(card, "text", dialogue)``; say a catalog message with ``CardContext.message``.
"""

from .texts import check_localised, check_text, localise

__all__ = ["check_localised", "check_text", "localise"]
