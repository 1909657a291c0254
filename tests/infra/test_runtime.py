

def test_the_cpu_model_is_named():
    from vadlib.infra.machine import cpu_model

    name = cpu_model()
    assert isinstance(name, str) and name and name != "unknown"
