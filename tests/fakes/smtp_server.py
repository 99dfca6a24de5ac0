"""A fake SMTP relay on 127.0.0.1 (RFC 5321): EHLO/HELO, STARTTLS (RFC 3207, when given
a certificate), AUTH PLAIN and LOGIN (RFC 4954), MAIL, RCPT, DATA with dot-unstuffing,
RSET, NOOP, QUIT. Accepted messages are kept, parsed, in `messages`.

    async with FakeSMTP(username="u", password="p") as smtp:
        ... send to 127.0.0.1:smtp.port ...
        msg = await smtp.next_message()
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from types import TracebackType


@dataclass
class Received:
    mail_from: str
    rcpt_to: list[str]
    message: EmailMessage
    tls: bool
    user: str | None


@dataclass
class FakeSMTP:
    username: str | None = None
    password: str | None = None
    tls: ssl.SSLContext | None = None  # offer STARTTLS with this server context
    require_tls: bool = False  # refuse MAIL and AUTH before STARTTLS
    port: int = 0
    messages: list[Received] = field(default_factory=list)
    sessions: int = 0
    _server: asyncio.Server | None = None
    _arrived: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)

    async def __aenter__(self) -> FakeSMTP:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def next_message(self, within_s: float = 5.0) -> Received:
        return await asyncio.wait_for(self._arrived.get(), within_s)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        state: dict[str, object] = {"tls": False, "user": None, "from": None, "rcpt": []}

        async def say(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        async def read() -> str:
            return (await reader.readline()).decode("utf-8", "replace").rstrip("\r\n")

        try:
            await say("220 fake-smtp ESMTP ready")
            while line := await read():
                verb, _, arg = line.partition(" ")
                verb = verb.upper()
                if verb == "EHLO":
                    caps = ["250-fake-smtp", "250-8BITMIME", "250-SMTPUTF8"]
                    if self.tls is not None and not state["tls"]:
                        caps.append("250-STARTTLS")
                    if self.username is not None:
                        caps.append("250-AUTH PLAIN LOGIN")
                    caps.append("250 SIZE 10485760")
                    writer.write("\r\n".join(caps).encode() + b"\r\n")
                    await writer.drain()
                elif verb == "HELO":
                    await say("250 fake-smtp")
                elif verb == "STARTTLS" and self.tls is not None and not state["tls"]:
                    await say("220 go ahead")
                    await writer.start_tls(self.tls)
                    state.update(tls=True, user=None, **{"from": None, "rcpt": []})
                elif verb == "AUTH":
                    if self.require_tls and not state["tls"]:
                        await say("530 5.7.0 Must issue a STARTTLS command first")
                        continue
                    mech, _, initial = arg.partition(" ")
                    if mech.upper() == "PLAIN":
                        if not initial:
                            await say("334 ")
                            initial = await read()
                        parts = base64.b64decode(initial).split(b"\0")
                        user, password = parts[1].decode(), parts[2].decode()
                    elif mech.upper() == "LOGIN":
                        await say("334 " + base64.b64encode(b"Username:").decode())
                        user = base64.b64decode(await read()).decode()
                        await say("334 " + base64.b64encode(b"Password:").decode())
                        password = base64.b64decode(await read()).decode()
                    else:
                        await say("504 5.5.4 Unrecognized authentication type")
                        continue
                    if user == self.username and password == self.password:
                        state["user"] = user
                        await say("235 2.7.0 Authentication successful")
                    else:
                        await say("535 5.7.8 Authentication credentials invalid")
                elif verb == "MAIL":
                    if self.require_tls and not state["tls"]:
                        await say("530 5.7.0 Must issue a STARTTLS command first")
                    elif self.username is not None and state["user"] is None:
                        await say("530 5.7.0 Authentication required")
                    else:
                        state.update(**{"from": arg.split(":", 1)[1].split()[0].strip("<>"), "rcpt": []})
                        await say("250 2.1.0 OK")
                elif verb == "RCPT":
                    rcpt = state["rcpt"]
                    assert isinstance(rcpt, list)
                    rcpt.append(arg.split(":", 1)[1].split()[0].strip("<>"))
                    await say("250 2.1.5 OK")
                elif verb == "DATA":
                    await say("354 End data with <CR><LF>.<CR><LF>")
                    lines = []
                    while (raw := await reader.readline()) not in (b".\r\n", b".\n", b""):
                        lines.append(raw[1:] if raw.startswith(b"..") else raw)
                    data = b"".join(lines).replace(b"\r\n", b"\n")  # stored with local line ends
                    parsed = email.message_from_bytes(data, policy=email.policy.default)
                    assert isinstance(parsed, EmailMessage)
                    rcpt_to = state["rcpt"]
                    assert isinstance(rcpt_to, list)
                    got = Received(str(state["from"]), list(rcpt_to), parsed, bool(state["tls"]),
                                   state["user"] if isinstance(state["user"], str) else None)  # fmt: skip
                    self.messages.append(got)
                    self._arrived.put_nowait(got)
                    await say("250 2.0.0 queued")
                elif verb == "RSET":
                    state.update(**{"from": None, "rcpt": []})
                    await say("250 OK")
                elif verb == "NOOP":
                    await say("250 OK")
                elif verb == "QUIT":
                    await say("221 bye")
                    break
                else:
                    await say("502 5.5.2 Command not recognized")
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
