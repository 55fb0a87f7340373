"""The chat app's pieces that unit tests call without a browser: bilingual interface text
(:mod:`webapp.ui_text`), HTML rendering of answers and sources (:mod:`webapp.render`) and
checked uploads into the index (:mod:`webapp.uploads`). ``app.py`` wires them into Gradio."""
