"""Chat: the incident's Slack channel, `/incident`, and the timeline from the channel."""
