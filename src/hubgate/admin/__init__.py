"""The admin API (`/admin/*`, SPEC §6): accounts, redemption codes, groups, keys, channels,
pricing, usage, audit and health, documented at `/admin/docs`.

`hubgate.admin.router.add_routes(app)` wires it into an application.
"""
