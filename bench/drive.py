"""Sends N identical POST requests one after another on one keep-alive connection and prints how
many were answered 200. Used by bench/instructions.sh, where the gateway runs under callgrind:
a closed loop of one, so the count of instructions per request does not depend on timing.

Usage: drive.py PORT PATH BODY N KEY
"""

import http.client
import sys


def main() -> None:
    port, path, body, n, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    ok = 0
    for _ in range(n):
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        ok += response.status == 200
    print(ok)


if __name__ == "__main__":
    main()
