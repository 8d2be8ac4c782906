import sys, time
sys.path.insert(0, "/work/main")
from datetime import UTC, datetime
import orjson
from streams.simulate import history, SimConfig
from streams.core.validate import validate
from streams.core.records import EventRecord
from streams.core.shard import Shard, ShardConfig
from streams.core.state import DictStore
from streams.core import rows
from sinks.clickhouse import connect
from sinks.migrations import migrate
from sinks.writer import ClickHouseWriter
lines = [orjson.dumps(e) for e in history(7000, datetime(2026,3,2,tzinfo=UTC), 50.0, SimConfig(customers=20000))]
N=len(lines)
t=time.perf_counter(); recs=[validate(l) for l in lines]; t1=time.perf_counter(); print("validate us/ev", (t1-t)/N*1e6)
wires=[orjson.dumps(r.to_wire()) for r in recs]; t2=time.perf_counter(); print("to_wire+dumps", (t2-t1)/N*1e6)
back=[EventRecord.from_wire(d) for d in orjson.loads(b"["+b",".join(wires)+b"]")]; t3=time.perf_counter(); print("loads+from_wire", (t3-t2)/N*1e6)
shard=Shard(0, DictStore(), ShardConfig()); msgs=[(i, back[j:j+500], 0) for i,j in enumerate(range(0,N,500))]
tot={"process":0,"rows":0,"write":0,"commit":0}
c=connect("chdb:///tmp/cbench"); migrate(c); w=ClickHouseWriter(c)
now=datetime.now(UTC)
for k in range(0, len(msgs), 10):
    a=time.perf_counter(); res=shard.process(msgs[k:k+10]); b=time.perf_counter()
    batch={"events":[rows.event_row(e, now) for e in res.accepted], "contacts":[rows.contact_row(v,ver,now) for v,ver in res.contacts], "sla_1m":[rows.sla_row(key,cnt,0,ver,now) for key,cnt,ver in res.windows]}
    cc=time.perf_counter(); w.write(batch); d=time.perf_counter(); shard.commit(); e=time.perf_counter()
    tot["process"]+=b-a; tot["rows"]+=cc-b; tot["write"]+=d-cc; tot["commit"]+=e-d
print({k: round(v/N*1e6,1) for k,v in tot.items()}, "us/event; N=", N)
