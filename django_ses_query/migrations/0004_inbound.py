import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('django_ses_query', '0003_events_once'),
    ]

    operations = [
        migrations.CreateModel(
            name='InboundEmail',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('message_id', models.CharField(max_length=128, unique=True, verbose_name='SES MessageId')),
                ('received_at', models.DateTimeField(blank=True, db_index=True, null=True, verbose_name='received at')),
                ('created_at', models.DateTimeField(auto_now_add=True, db_index=True, verbose_name='stored at')),
                ('source', models.TextField(blank=True, verbose_name='envelope sender (MAIL FROM)')),
                ('recipients', models.JSONField(blank=True, default=list, verbose_name='envelope recipients')),
                ('from_email', models.TextField(blank=True, verbose_name='from')),
                ('to', models.JSONField(blank=True, default=list, verbose_name='to')),
                ('cc', models.JSONField(blank=True, default=list, verbose_name='cc')),
                ('reply_to', models.JSONField(blank=True, default=list, verbose_name='reply to')),
                ('subject', models.TextField(blank=True, verbose_name='subject')),
                ('message_id_header', models.TextField(blank=True, verbose_name='Message-ID')),
                ('in_reply_to', models.TextField(blank=True, verbose_name='In-Reply-To')),
                ('references', models.TextField(blank=True, verbose_name='References')),
                ('text_body', models.TextField(blank=True, verbose_name='text body')),
                ('html_body', models.TextField(blank=True, verbose_name='HTML body')),
                ('attachments', models.JSONField(blank=True, default=list, verbose_name='attachments')),
                ('size_bytes', models.PositiveBigIntegerField(blank=True, null=True, verbose_name='size (bytes)')),
                ('spam_verdict', models.CharField(blank=True, db_index=True, max_length=32, verbose_name='spam verdict')),
                ('virus_verdict', models.CharField(blank=True, db_index=True, max_length=32, verbose_name='virus verdict')),
                ('spf_verdict', models.CharField(blank=True, max_length=32, verbose_name='SPF verdict')),
                ('dkim_verdict', models.CharField(blank=True, max_length=32, verbose_name='DKIM verdict')),
                ('dmarc_verdict', models.CharField(blank=True, max_length=32, verbose_name='DMARC verdict')),
                ('dmarc_policy', models.CharField(blank=True, max_length=32, verbose_name='DMARC policy')),
                ('action', models.CharField(choices=[('SNS', 'SNS'), ('S3', 'S3')], max_length=8, verbose_name='action')),
                ('topic_arn', models.CharField(blank=True, max_length=256, verbose_name='topic ARN')),
                ('s3_bucket', models.CharField(blank=True, max_length=255, verbose_name='S3 bucket')),
                ('s3_key', models.CharField(blank=True, max_length=1024, verbose_name='S3 key')),
                ('headers', models.JSONField(blank=True, default=list, verbose_name='headers')),
                ('receipt', models.JSONField(blank=True, default=dict, verbose_name='receipt notification')),
                ('raw', models.BinaryField(blank=True, null=True, verbose_name='raw message')),
                ('problems', models.JSONField(blank=True, default=list, verbose_name='problems')),
                ('sns_message_id', models.CharField(blank=True, max_length=128, verbose_name='SNS MessageId')),
                ('log', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='replies', to='django_ses_query.emaillog', verbose_name='answers')),
            ],
            options={
                'verbose_name': 'received email',
                'verbose_name_plural': 'received email',
                'ordering': ['-received_at', '-id'],
            },
        ),
    ]
