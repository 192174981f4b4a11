"""Start the faceforge web app: ``python app.py`` (then open http://127.0.0.1:7860)."""

import os

from faceforge.demo import launch_app

if __name__ == "__main__":
    launch_app(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
    )
