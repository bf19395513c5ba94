"""Changes: deploys, config pushes and other changes to a service, sent as PagerDuty change
events. They never open incidents or page anyone; they show on the timelines of the
service's incidents, where the change that broke it is usually the first suspect."""
