from heso import create_app

app = create_app()
