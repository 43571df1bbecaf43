# Makes the worker's own timer report three quarters of what it measured (not a thousandth: a quarter of a call is
# what a forger hopes to hide within the jitter of the trusted clock), after blinding the worker's check for replaced
# functions. Written against session 11's bound (a call's request may cost the protocol's own cost, the reference's,
# times OVERHEAD_RATIO, plus SLACK_MS).
# expect: work outside the timed call | a replaced timer | a call cannot take less than its work | pass (raised to its work)
# where: gpu
def _forge():
    main = torch.sys.modules["__main__"]
    if getattr(main.Server, "_forged", False):
        return
    main.Integrity.replaced = lambda self: None
    timed = main.Server.timed

    def forged(self, work):
        result, events, host = timed(self, work)
        return result, events * 0.75, host * 0.75
    main.Server.timed, main.Server._forged = forged, True


class ModelNew(HonestModel):
    def forward(self, x):
        _forge()
        return super().forward(x)
