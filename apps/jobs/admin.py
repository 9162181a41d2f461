from django.contrib import admin

from apps.jobs.models import Job, JobStep


class JobStepInline(admin.TabularInline):
    model = JobStep
    extra = 0
    can_delete = False
    readonly_fields = ["attempt", "position", "name", "state", "started", "finished", "output"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "target_repr", "tenant", "state", "attempts", "created"]
    list_filter = ["state", "kind"]
    list_select_related = ["tenant"]
    search_fields = ["target_repr", "error", "celery_task_id"]
    readonly_fields = [f.name for f in Job._meta.fields if f.name != "id"]
    inlines = [JobStepInline]

    def has_add_permission(self, request):
        return False


@admin.register(JobStep)
class JobStepAdmin(admin.ModelAdmin):
    list_display = ["job", "attempt", "position", "name", "state", "started", "finished"]
    list_filter = ["state", "name"]
    readonly_fields = [f.name for f in JobStep._meta.fields if f.name != "id"]

    def has_add_permission(self, request):
        return False
