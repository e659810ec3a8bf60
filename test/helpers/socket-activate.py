# Socket activation as systemd does it: bind and listen a socket (tcp HOST:PORT or unix:PATH),
# print where it listens, make it fd 3, set LISTEN_FDS and LISTEN_PID, and exec the command.
import os
import socket
import sys

where, command = sys.argv[1], sys.argv[2:]
if where.startswith('unix:'):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(where[5:])
    name = where
else:
    host, port = where.rsplit(':', 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, int(port)))
    name = '%s:%d' % sock.getsockname()
sock.listen(16)
print(name, flush=True)
if sock.fileno() != 3:
    os.dup2(sock.fileno(), 3)
os.set_inheritable(3, True)
os.environ['LISTEN_FDS'] = '1'
os.environ['LISTEN_PID'] = str(os.getpid())
os.execvp(command[0], command)
