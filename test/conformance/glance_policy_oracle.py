#!/usr/bin/python3
"""Answers policy questions with the installed Glance (Zed) and oslo.policy, for
test/conformance/policy-oslo.test.ts. Reads one JSON request on stdin, writes JSON.

  {"kind": "rules", "policy_file": ..., "modes": [[new_defaults, scope]], "rules": [...],
   "creds": [...], "targets": [...]}        -> {"registered": [...], "results": [bool|"error"]}
  {"kind": "image", "scenarios": [...]}     -> {"results": ["ok"|403|404]}
  {"kind": "props", "format": ..., "file": ..., "policy_file": ..., "names": [...],
   "creds": [...]}                          -> {"results": [bool]}
"""
import configparser
import json
import logging
import sys
import warnings

logging.disable(logging.CRITICAL)
warnings.simplefilter('ignore')

from oslo_config import cfg  # noqa: E402
from oslo_policy import opts, policy  # noqa: E402

from glance import policies  # noqa: E402
import glance.api.policy as gpolicy  # noqa: E402
from glance.api.v2 import policy as api_policy  # noqa: E402
from glance.common import property_utils  # noqa: E402
import glance.context  # noqa: E402
from glance.db import utils as dbutils  # noqa: E402
import webob.exc  # noqa: E402

CONF = cfg.CONF
CONF([], project='glance', default_config_files=[])


def rules(req):
    out = []
    for new_defaults, scope in req['modes']:
        conf = cfg.ConfigOpts()
        opts._register(conf)
        conf([], project='x', default_config_files=[])
        conf.set_override('enforce_new_defaults', new_defaults, group='oslo_policy')
        conf.set_override('enforce_scope', scope, group='oslo_policy')
        conf.set_override('policy_file', req.get('policy_file') or '/nonexistent/policy.yaml', group='oslo_policy')
        enforcer = policy.Enforcer(conf, use_conf=True)
        enforcer.register_defaults(policies.list_rules())
        enforcer.load_rules()
        for rule in req['rules']:
            for creds in req['creds']:
                for target in req['targets']:
                    try:
                        out.append(bool(enforcer.enforce(rule, dict(target), dict(creds))))
                    except Exception:
                        out.append('error')
    return {'registered': [r.name for r in policies.list_rules()], 'results': out}


class Image:
    def __init__(self, owner, visibility, member):
        self.owner = owner
        self.visibility = visibility
        self.member = member
        self.image_id = 'img-1'
        self.extra_properties = {}
        self.status = 'active'
        self.protected = False
        self.os_hidden = False


METHODS = {'deactivate': 'deactivate_image', 'reactivate': 'reactivate_image',
           'delete_image_location': 'delete_locations', 'set_image_location': 'update_locations'}


def image(req):
    out = []
    mode = enforcer = None
    for sc in req['scenarios']:
        if sc['mode'] != mode:  # an enforcer reads the options when it loads its rules
            mode = sc['mode']
            new_defaults, scope, secure_rbac = mode
            CONF.set_override('enforce_new_defaults', new_defaults, group='oslo_policy')
            CONF.set_override('enforce_scope', scope, group='oslo_policy')
            CONF.set_override('enforce_secure_rbac', secure_rbac)
            CONF.set_override('policy_file', '/nonexistent/policy.yaml', group='oslo_policy')
            enforcer = gpolicy.Enforcer(suppress_deprecation_warnings=True)
        c = sc['creds']
        ctx = glance.context.RequestContext(project_id=c.get('project_id'), roles=list(c['roles']),
                                            system_scope=c.get('system_scope'), policy_enforcer=enforcer)
        owner, visibility = sc['image']['owner'], sc['image']['visibility']
        is_member = sc.get('isMember', False)
        row = {'owner': owner, 'visibility': visibility, 'id': 'img-1'}
        if not dbutils.is_image_visible(ctx, row, lambda *a, **k: [1] if is_member else []):
            out.append(404)
            continue
        # glance/db/__init__.py: a shared image found by a non-owner was found as a member
        member = ctx.owner if (visibility == 'shared' and ctx.owner != owner) else None
        img = Image(owner, visibility, member)
        try:
            if sc['kind'] == 'image':
                pol = api_policy.ImageAPIPolicy(ctx, img, enforcer=enforcer)
                getattr(pol, METHODS.get(sc['rule'], sc['rule']))()
            elif sc['kind'] == 'member':
                getattr(api_policy.MemberAPIPolicy(ctx, img, enforcer=enforcer), sc['rule'])()
            else:
                api_policy.ImageAPIPolicy(ctx, img, enforcer=enforcer).update_property('visibility', sc['value'])
            out.append('ok')
        except webob.exc.HTTPNotFound:
            out.append(404)
        except webob.exc.HTTPForbidden:
            out.append(403)
        except Exception as e:  # glance.common.exception.Forbidden from the legacy checks
            out.append(403 if type(e).__name__ == 'Forbidden' else 'error: %r' % e)
    return {'results': out}


def props(req):
    CONF.set_override('enforce_new_defaults', True, group='oslo_policy')
    CONF.set_override('policy_file', req['policy_file'], group='oslo_policy')
    CONF.set_override('property_protection_file', req['file'])
    CONF.set_override('property_protection_rule_format', req['format'])
    property_utils.CONFIG = configparser.ConfigParser()
    enforcer = gpolicy.Enforcer(suppress_deprecation_warnings=True)
    rules_ = property_utils.PropertyRules(enforcer)
    out = []
    for name in req['names']:
        for c in req['creds']:
            for op in ['create', 'read', 'update', 'delete']:
                ctx = glance.context.RequestContext(project_id='p1', roles=list(c['roles']),
                                                    service_roles=c.get('service_roles'), policy_enforcer=enforcer)
                out.append(bool(rules_.check_property_rules(name, op, ctx)))
    return {'results': out}


request = json.load(sys.stdin)
json.dump({'rules': rules, 'image': image, 'props': props}[request['kind']](request), sys.stdout)
