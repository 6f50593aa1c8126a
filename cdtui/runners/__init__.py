"""Where stages run: ``local`` (a process group per stage); ``ssh`` arrives with remote stages."""
