# The seed's Flask app, as the seed benchmarked it: gunicorn --bind 127.0.0.1:PORT flaskapp:app
from flask import Flask, jsonify, request

app = Flask(__name__)
app.json.sort_keys = True
app.json.compact = True

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@app.route("/")
def index():
    return "Blazingly Fast!\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


@app.route("/echo", methods=METHODS)
@app.route("/echo/<a>", methods=METHODS)
@app.route("/echo/<a>/<b>", methods=METHODS)
@app.route("/echo/<a>/<b>/<c>", methods=METHODS)
def echo(a=None, b=None, c=None):
    return jsonify(
        {
            "body": request.get_data(as_text=True),
            "query_params": request.args.to_dict(),
            "url_params": [p for p in (a, b, c) if p is not None],
        }
    )
