"""The demo county's phones: grid workers on patrol, each with a real live connection to the hub.

Only ``gridhub demo`` runs it (with :mod:`hub.demo_activity`). 网格力量在线 on the big screen counts the
responders with a live ``/ws`` connection and draws their last positions, so an alive demo needs phones:
most of the county's grid workers here connect to the hub's own ``/ws`` over loopback (a real WebSocket
through :mod:`hub.wsclient`, subscribed to their ``dispatch:`` channel, acknowledging what arrives as the
mobile page does), walk around their grid reporting positions, and now and then lose the network for a
minute and come back, as phones on a real day do. The logins ``gridhub demo`` prints are left to the people
trying it: their dispatches and positions are theirs alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatch.geo import EARTH_RADIUS_M, haversine_m
from dispatch.models import Jurisdiction, Role, User
from hub.security import issue_token
from hub.seed import DEMO_LOGINS
from hub.wsclient import Client

log = logging.getLogger("gridhub.demo")


@dataclass
class Patrol:
    """One phone's day: where its grid is and where the worker stands now."""

    user_id: int
    home: tuple[float, float]  # the grid's centre, (lat, lon)
    at: tuple[float, float]


class DemoPhones:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        ws_url: str,
        signing_key: str,
        share: float = 0.8,
        most: int = 200,
        step_every_s: tuple[float, float] = (15.0, 45.0),
        online_s: tuple[float, float] = (300.0, 1200.0),
        offline_s: tuple[float, float] = (20.0, 120.0),
        walk_m: float = 400.0,
        switch_on_s: tuple[float, float] = (0.5, 60.0),
        rnd: random.Random | None = None,
    ) -> None:
        """``share`` of the county's active responders (at most ``most``) carry a phone; each stays online for
        ``online_s``, then is out of coverage for ``offline_s``, and moves every ``step_every_s`` within
        ``walk_m`` of its grid's centre; they switch on over ``switch_on_s`` after the start."""
        self.session_factory = session_factory
        self.ws_url = ws_url
        self.signing_key = signing_key
        self.share = share
        self.most = most
        self.step_every_s = step_every_s
        self.online_s = online_s
        self.offline_s = offline_s
        self.walk_m = walk_m
        self.switch_on_s = switch_on_s
        self.rnd = rnd or random.Random()

    async def run(self) -> None:
        patrols = await self._patrols()
        log.info("demo phones: %d grid workers on patrol", len(patrols))
        async with asyncio.TaskGroup() as phones:
            for patrol in patrols:
                phones.create_task(self._phone(patrol))

    async def _patrols(self) -> list[Patrol]:
        async with self.session_factory() as db_session:
            rows = (
                await db_session.execute(
                    select(User.id, Jurisdiction.center_lat, Jurisdiction.center_lon)
                    .join(Jurisdiction, Jurisdiction.code == User.jurisdiction_code)
                    .where(
                        User.role == Role.RESPONDER,
                        User.is_active.is_(True),
                        Jurisdiction.center_lat.is_not(None),
                        # the printed logins are for people trying the demo: their phone is the one they open
                        User.username.not_in([login.username for login in DEMO_LOGINS]),
                    )
                    .order_by(User.id)
                )
            ).all()
        chosen = [r for r in rows if self.rnd.random() < self.share][: self.most]
        return [Patrol(user_id=uid, home=(lat, lon), at=(lat, lon)) for uid, lat, lon in chosen]

    async def _phone(self, patrol: Patrol) -> None:
        await asyncio.sleep(self.rnd.uniform(*self.switch_on_s))  # phones switch on one by one, not in one burst
        while True:
            try:
                await self._online_for(patrol, self.rnd.uniform(*self.online_s))
            except Exception:  # the database busy or away a moment: this phone tries again after its dead zone
                log.warning("demo phone of user %d failed", patrol.user_id, exc_info=True)
            await asyncio.sleep(self.rnd.uniform(*self.offline_s))

    async def _online_for(self, patrol: Patrol, seconds: float) -> None:
        user = await self._user(patrol.user_id)
        if user is None or not user.is_active:
            await asyncio.sleep(seconds)  # the account was disabled meanwhile: this phone stays dark
            return
        token = issue_token(user, secret=self.signing_key, ttl_minutes=max(5, math.ceil(seconds / 60) + 5))
        client = Client(self.ws_url, token, backoff_max=5.0)
        reader = None
        try:
            await client.start(wait=False)
            await client.subscribe(f"dispatch:{patrol.user_id}")
            reader = asyncio.create_task(self._read(client))
            deadline = asyncio.get_running_loop().time() + seconds
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                await self._walk(patrol)
                await asyncio.sleep(min(left, self.rnd.uniform(*self.step_every_s)))
        finally:
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(BaseException):
                    await reader
            await client.close()

    @staticmethod
    async def _read(client: Client) -> None:
        """Take what arrives (dispatches are acknowledged by the client as they are handed out)."""
        while True:
            await client.next()

    async def _user(self, user_id: int) -> User | None:
        async with self.session_factory() as db_session:
            return await db_session.get(User, user_id)

    async def _walk(self, patrol: Patrol) -> None:
        """A few dozen metres on, staying within ``walk_m`` of the grid's centre; stored as PUT /me/position does."""
        lat, lon = patrol.at
        home_lat, home_lon = patrol.home
        bearing = self.rnd.uniform(0, 2 * math.pi)
        step = math.degrees(self.rnd.uniform(20, 80) / EARTH_RADIUS_M)  # 20-80 m, in degrees of latitude
        lat += step * math.cos(bearing)
        lon += step * math.sin(bearing) / math.cos(math.radians(lat))
        if haversine_m(lat, lon, home_lat, home_lon) > self.walk_m:  # turn back towards the middle of the grid
            lat, lon = (lat + home_lat) / 2, (lon + home_lon) / 2
        patrol.at = (lat, lon)
        async with self.session_factory() as db_session:
            user = await db_session.get(User, patrol.user_id)
            if user is not None:
                user.lat, user.lon = lat, lon
                await db_session.commit()
