"""Online top-up: Stripe Checkout and EPay (易支付).

`amounts` turns a USD amount into what is charged and credited, `stripe` and `epay` speak
the providers' wire formats (pure signing and verifying beside a small REST client), and
`service` ties them to the payments repository: orders, the exactly-once credit, refunds.
Nothing here knows HTTP routes; `http/payment_routes.py` and the console call the service.
"""
