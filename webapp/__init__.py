"""The chat app: :mod:`webapp.handlers` (the backends and what each button does),
:mod:`webapp.layout` (the Gradio page, styles, launch options), :mod:`webapp.render` (answers and
sources as HTML), :mod:`webapp.ui_text` (bilingual interface text) and :mod:`webapp.uploads`
(checked uploads into the index). ``app.py`` starts it."""
