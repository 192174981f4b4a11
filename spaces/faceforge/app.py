"""Hugging Face Space entry point: the faceforge app, nothing more."""

from faceforge.demo import build_app

demo = build_app()

if __name__ == "__main__":
    demo.launch()
