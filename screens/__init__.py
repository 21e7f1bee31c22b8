"""The screens people look at: the big-screen overview, the dispatcher console, the responder's page.

screens/ owns the HTML, JavaScript and CSS of the browser pages (``pages/``, ``static/``), the big
screens' layout documents (``layouts.py``, table ``screen_layouts``) and the Streamlit analytics app.
The pages talk to gridhub only through the public HTTP and WebSocket contract; the Python side may
import dispatch/ (the shared base, read-only queries), never hub/ internals, stream/ or vision/.
"""
