"""SAIF reproduction: the library behind the notebooks and the ``saif`` CLI."""
import warnings

# In a Jupyter kernel without ipywidgets, importing ``tqdm.auto`` (transformers and sae-lens
# do) warns "IProgress not found" on stderr; the notebooks run with progress bars off, and the
# warning would otherwise sit in the first cell's output of every executed notebook.
warnings.filterwarnings("ignore", message="IProgress not found")
