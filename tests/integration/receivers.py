# SPDX-License-Identifier: MIT
"""Real receivers on loopback for worker tests: an HTTP server with scripted answers that
records every request, and an SMTP server (aiosmtpd) that records every message."""
import base64
import hashlib
import hmac
import http.server
import socket
import socketserver
import threading
import time


class Received:
    """One request as the receiver saw it."""

    def __init__(self, path, headers, body, peer=None):
        self.path = path
        self.peer = peer  # (host, port) of the client: one per TCP connection
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body


class HttpReceiver:
    """An HTTP/1.1 server in a thread. `script` decides each answer: a callable taking the
    Received and returning (status, headers dict, body bytes), or a list of statuses consumed
    in order (the last one repeats)."""

    def __init__(self, statuses=(200,), delay=0.0, headers=None, body=b'ok'):
        self.requests = []
        self.lock = threading.Lock()
        self.statuses = list(statuses)
        self.delay = delay
        self.headers = headers or {}
        self.body = body
        self.script = None
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def do_POST(self):
                n = int(self.headers.get('content-length', 0))
                rec = Received(self.path, dict(self.headers), self.rfile.read(n), self.client_address)
                status, headers, body = receiver._answer(rec)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header('content-length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 1024

        self.server = Server(('127.0.0.1', 0), Handler)
        self.port = self.server.server_address[1]
        self.url = 'http://127.0.0.1:%d/hook' % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _answer(self, rec):
        with self.lock:
            self.requests.append(rec)
            if self.script:
                answer = self.script(rec)
            else:
                status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
                answer = (status, dict(self.headers), self.body)
        if self.delay:
            time.sleep(self.delay)
        return answer

    def received(self):
        with self.lock:
            return list(self.requests)

    def count(self):
        with self.lock:
            return len(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def verify_signature(secret, rec):
    """True when one of rec's webhook-signature entries is the HMAC of id.timestamp.body under
    secret ("whsec_<base64>"), as Standard Webhooks defines it."""
    key = base64.b64decode(secret[len('whsec_'):] if secret.startswith('whsec_') else secret)
    signed = ('%s.%s.' % (rec.headers['webhook-id'], rec.headers['webhook-timestamp'])).encode()
    mac = base64.b64encode(hmac.new(key, signed + rec.body, hashlib.sha256).digest()).decode()
    return ('v1,' + mac) in rec.headers['webhook-signature'].split(' ')


class SmtpReceiver:
    """aiosmtpd on loopback recording every message (envelope and content)."""

    def __init__(self):
        from aiosmtpd.controller import Controller
        self.messages = []
        self.lock = threading.Lock()
        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                with receiver.lock:
                    receiver.messages.append({
                        'from': envelope.mail_from,
                        'to': list(envelope.rcpt_tos),
                        'content': envelope.content.decode('utf-8', 'replace'),
                    })
                return '250 OK'

        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            self.port = s.getsockname()[1]
        self.controller = Controller(Handler(), hostname='127.0.0.1', port=self.port)
        self.controller.start()
        self.url = 'smtp://127.0.0.1:%d' % self.port

    def received(self):
        with self.lock:
            return list(self.messages)

    def close(self):
        self.controller.stop()
