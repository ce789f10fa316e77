# JupyterHub 5.x for deploy/docker-compose.yml (`docker compose --profile hub up`): development only, anyone who
# types the password DUMMY_PASSWORD (default "dev") logs in. CONFIGPROXY_AUTH_TOKEN and JPY_COOKIE_SECRET come from
# the environment, so the hub and hub-guard share them; PGPASSWORD reaches PostgreSQL through libpq.
import os

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

c.JupyterHub.db_url = "postgresql://jupyterhub@postgres:5432/jupyterhub"

# hub-guard is the proxy; the hub does not start one but configures it over the routes API
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = "http://hub-guard:8001"

# hub-guard reaches the hub (and the hub's route for "/" points) at this address
c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
c.JupyterHub.hub_connect_url = "http://jupyterhub:8081"

# DummyAuthenticator admits every name (its allow_all defaults to True in 5.x); JupyterHub 5.3+ warns that its
# password option is deprecated in favour of SharedPasswordAuthenticator (fine for development)
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = os.environ.get("DUMMY_PASSWORD", "dev")
c.Authenticator.admin_users = {"admin"}

# keeps user servers (if you add a spawner) running across hub restarts, as most deployments do
c.JupyterHub.cleanup_servers = False
