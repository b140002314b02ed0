"""gunicorn entry: gunicorn -w 2 -k gthread --threads 16 wsgi:app"""
from heso import create_app

app = create_app()
