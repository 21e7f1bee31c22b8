"""The screens people look at: the big-screen overview, the dispatcher console, the responder's page.

screens/ owns the HTML, JavaScript and CSS of the browser pages and the Streamlit analytics app. The
pages talk to gridhub only through the public HTTP and WebSocket contract; the Python side may import
dispatch/ for read-only queries, never hub/ internals, stream/ or vision/.
"""
