"""Blue/green release: routers that shift traffic (routers/), health and the rollout on top."""
