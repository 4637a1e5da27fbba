import CountersignCore
import CountersignLedger

/// One self-contained HTML file (inline CSS and JavaScript, no network) to browse receipts: search,
/// filters, traces that fold, and a change list when it shows a replay.
///
/// Data is embedded as JSON with `<` escaped and rendered with `textContent` only, so a hostile
/// receipt cannot inject markup; a strict Content-Security-Policy forbids any fetch.
public enum HTMLViewer {
    public static func render(title: String, receipts: [Receipt], changes: [ReplayChange] = [], subtitle: String = "")
        -> String
    {
        let data: JSONValue = .object([
            "title": .string(title), "subtitle": .string(subtitle),
            "receipts": .array(receipts.map { .object($0.body) }),
            "changes": .array(changes.map(\.json)),
        ])
        let json = CanonicalJSON.string(data)
            .replacingOccurrences(of: "<", with: "\\u003c").replacingOccurrences(of: "\u{2028}", with: "\\u2028")
            .replacingOccurrences(of: "\u{2029}", with: "\\u2029")
        return template.replacingOccurrences(of: "__TITLE__", with: escapeHTML(title))
            .replacingOccurrences(of: "__DATA__", with: json)
    }

    static func escapeHTML(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static let template = #"""
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>__TITLE__</title>
        <style>
        body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
        header{background:#1d2330;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;opacity:.8}
        main{padding:16px 24px}.bar{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin-bottom:12px}
        input,select,button{font:inherit;padding:4px 8px;border:1px solid #c8ccd4;border-radius:4px;background:#fff}
        .cards{display:flex;gap:12px;margin-bottom:12px}.card{background:#fff;border-radius:6px;padding:8px 14px;box-shadow:0 1px 2px #0001}
        .card b{display:block;font-size:20px}details{background:#fff;border-radius:6px;margin:8px 0;box-shadow:0 1px 2px #0001}
        summary{padding:8px 12px;cursor:pointer;font-weight:600}article{border-top:1px solid #eef0f3;padding:6px 12px 8px 24px}
        .pill{display:inline-block;border-radius:10px;padding:0 8px;margin-right:6px;font-size:12px;background:#e4e7ec}
        .allow,.authorized,.executed,.approve{background:#d3f5dc}.deny,.blocked,.reject,.error,.unmediated{background:#fbd5d5}
        .ask,.expire,.pending{background:#fdf0c8}code,pre{font:12px ui-monospace,monospace;white-space:pre-wrap;word-break:break-all}
        .muted{color:#6b7280}.change{background:#fff;border-left:4px solid #e0a100;margin:6px 0;padding:6px 10px}
        </style></head><body>
        <header><h1 id="title"></h1><p id="subtitle"></p></header>
        <main>
        <div class="cards"><div class="card">receipts<b id="count"></b></div><div class="card">traces<b id="traces"></b></div><div class="card">changes<b id="changecount"></b></div></div>
        <div id="changes"></div>
        <div class="bar">
        <input id="search" type="search" placeholder="search tool, target, rule, reason, hash…" size="40">
        <select id="f-kind"><option value="">any kind</option></select>
        <select id="f-status"><option value="">any status</option></select>
        <select id="f-decision"><option value="">any decision</option></select>
        <select id="f-rule"><option value="">any rule</option></select>
        <select id="f-tool"><option value="">any tool</option></select>
        <button id="reset">Reset</button><button id="expand">Expand all</button><button id="collapse">Collapse all</button>
        <span id="visible" class="muted"></span></div>
        <div id="list"></div>
        </main>
        <script id="data" type="application/json">__DATA__</script>
        <script>
        (function(){
        const data=JSON.parse(document.getElementById('data').textContent);
        const el=(t,c,x)=>{const e=document.createElement(t);if(c)e.className=c;if(x!==undefined)e.textContent=x;return e};
        document.getElementById('title').textContent=data.title;document.getElementById('subtitle').textContent=data.subtitle;
        const rs=data.receipts;const tool=r=>(r.action&&r.action.tool)||'';const rule=r=>(r.policy&&r.policy.rule_id)||'';
        const fields={kind:r=>r.kind,status:r=>r.status,decision:r=>r.decision||'',rule:rule,tool:tool};
        for(const [k,f] of Object.entries(fields)){const s=document.getElementById('f-'+k);[...new Set(rs.map(f).filter(x=>x))].sort().forEach(v=>{const o=el('option','',v);o.value=v;s.appendChild(o)})}
        const traces=new Map();let anon=0;for(const r of rs){const id=r.trace_id||('(no-trace-'+(++anon)+')');if(!traces.has(id))traces.set(id,[]);traces.get(id).push(r)}
        document.getElementById('count').textContent=rs.length;document.getElementById('traces').textContent=traces.size;
        document.getElementById('changecount').textContent=data.changes.length;
        const ch=document.getElementById('changes');for(const c of data.changes){ch.appendChild(el('div','change',c.summary))}
        const list=document.getElementById('list');const items=[];
        for(const [id,group] of traces){const d=el('details');d.open=true;const s=el('summary','',id+' ('+group.length+')');d.appendChild(s);
        for(const r of group){const a=el('article');const head=el('div');
        head.appendChild(el('span','muted','#'+r.seq+' '+r.time+' '));head.appendChild(el('span','pill '+r.kind,r.kind));
        head.appendChild(el('span','pill '+r.status,r.status));if(r.decision)head.appendChild(el('span','pill '+r.decision.split('->').pop(),r.decision));
        if(rule(r))head.appendChild(el('span','muted','rule '+rule(r)));a.appendChild(head);
        if(r.action){a.appendChild(el('code','',(r.action.actor||'')+' '+tool(r)+(r.action.target?' → '+r.action.target:'')))}
        if(r.policy&&r.policy.reason)a.appendChild(el('div','muted',r.policy.reason));
        for(const v of (r.approvals||[]))a.appendChild(el('div','',v.verdict+' by '+v.reviewer+' via '+v.channel+(v.note?': '+v.note:'')));
        if(r.error)a.appendChild(el('pre','',r.error));if(r.result)a.appendChild(el('pre','',r.result.preview));
        a.appendChild(el('div','muted',r.hash));d.appendChild(a);
        items.push({r,a,d,text:JSON.stringify(r).toLowerCase()})}list.appendChild(d)}
        function apply(){const q=document.getElementById('search').value.toLowerCase();let n=0;
        const sel={};for(const k of Object.keys(fields))sel[k]=document.getElementById('f-'+k).value;
        for(const it of items){let ok=!q||it.text.includes(q);for(const [k,f] of Object.entries(fields))if(sel[k]&&f(it.r)!==sel[k])ok=false;
        it.a.style.display=ok?'':'none';if(ok)n++}
        for(const d of list.children){d.style.display=[...d.querySelectorAll('article')].some(a=>a.style.display!=='none')?'':'none'}
        document.getElementById('visible').textContent=n+'/'+items.length+' receipts visible'}
        document.querySelectorAll('input,select').forEach(e=>e.addEventListener('input',apply));
        document.getElementById('reset').onclick=()=>{document.querySelectorAll('input,select').forEach(e=>e.value='');apply()};
        document.getElementById('expand').onclick=()=>list.querySelectorAll('details').forEach(d=>d.open=true);
        document.getElementById('collapse').onclick=()=>list.querySelectorAll('details').forEach(d=>d.open=false);
        apply()})();
        </script></body></html>
        """#
}
